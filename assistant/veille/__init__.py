"""The legal watch (veille juridique): the digest of the change journal, its summary by the
model, the watch profiles, and the service both edges call."""
