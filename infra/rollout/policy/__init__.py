"""The rules of the CrossGuard policy pack (policy/ at the repository top), as plain functions on manifests."""
