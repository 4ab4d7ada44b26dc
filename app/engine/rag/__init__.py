"""Reference photos for RAG: import, profiling, retrieval."""
