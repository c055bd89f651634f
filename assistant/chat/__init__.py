"""The chat: a turn is prepared (follow-up rewritten, scope judged, passages retrieved and
their sentences scored), routed to the answer that fits it (the sources, the aids
catalogue, funded projects, the cofinancing calculator) and streamed as events.

    service.py — ChatService: prepare a turn, route it, finish it into events
    model.py   — the steps that call the model, and the conventions of its prompts
    turn.py    — the turn and its events
"""
