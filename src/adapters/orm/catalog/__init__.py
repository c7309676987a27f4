"""The catalog module's persistence: currencies, categories, periodicities, payment accounts, holidays."""
