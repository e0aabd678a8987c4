"""The campaign-api service."""
