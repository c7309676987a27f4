"""The read side as ports: read models (DTOs) and the query protocols the API calls; adapters/queries
implements them on SQL."""
