"""The language model: its client (Mistral, EU endpoint or self-hosted), the circuit
breaker in front of it, the accounting of its calls, the optional retrieval levers it
drives, and the versioned prompts it reads."""
