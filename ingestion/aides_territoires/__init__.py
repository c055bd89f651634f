"""aides-territoires, the State's catalogue of aids: its records (`Aide`, from the CSV export
or the API) and its API client. `ingestion.sources.aides` turns the aids into documents."""
