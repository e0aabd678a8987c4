"""The content-generator service."""
