"""`minerals identify`: species, region and size for new photos."""
