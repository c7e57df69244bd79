"""Recipes that rebuild the project's data and models from their sources (not installed)."""
