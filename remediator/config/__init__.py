"""Settings, their loading and validation, and Kubernetes name rules."""
