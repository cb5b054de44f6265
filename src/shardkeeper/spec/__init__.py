"""User-facing resources: Kubernetes-style YAML documents (camelCase, unknown fields rejected).

Spec models never cross the Temporal boundary; ``convert.py`` turns them into contracts.
"""
