"""Accountability and reversibility: the records database (answers, feedback, ingestion
runs, audit log), the indicators reported to the programme, the sovereignty sheet, and the
export and import of a whole instance."""
