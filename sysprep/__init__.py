"""sysprep package."""
