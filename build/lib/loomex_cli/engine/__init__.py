"""The engine floor: agents, tools, messages, the loop, sinks, events and telemetry.
No terminal, no HTTP server, no Rich here."""
