"""Administrators' documents: detect, parse (unstructured, pypdfium2, tesseract), chunk
by page and structure, and keep each commune's library apart (see `library`)."""
