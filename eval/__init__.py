"""Evaluation as code: datasets, retrieval and answer metrics, reports and the release gate."""
