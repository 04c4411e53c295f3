"""Exact k nearest neighbours: pruned search, brute force for unprunable data, MPI drivers."""
from .mpi import knn, knn_query

__all__ = ["knn", "knn_query"]
