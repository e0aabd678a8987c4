"""Cross-cutting runtime glue shared by every service; nothing service-specific lives here."""
