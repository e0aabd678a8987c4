"""The REST API and the tracking links: thin HTTP wrappers around `campaign_api.usecases`."""
