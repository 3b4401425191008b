"""Sparse implementations: one module per implementation, discovered by impls.registry."""
