"""Aids (aides, subventions): the catalogue searched for a project and a commune, eligibility,
comparable funded projects, the cofinancing calculator and its tool for the model, and the
service the edges and the chat call."""
