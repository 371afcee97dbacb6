"""
Thin wrappers around kubernetes-asyncio: the API client, our error classes,
retries, and one module per kind of change we make to a cluster.
"""
