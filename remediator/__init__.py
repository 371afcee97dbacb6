"""Self-healing for LLM serving on Kubernetes, driven by benchmarks and Alertmanager."""

__version__ = "0.1.0"
