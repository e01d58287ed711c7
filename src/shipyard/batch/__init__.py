"""The client side of the Batch API: building clients, waiting, streaming, error translation.

Everything here speaks to Azure Batch through the official SDK only, so the same code
drives a real account and the local engine.
"""
