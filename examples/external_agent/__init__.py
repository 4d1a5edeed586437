"""Your own agent, as an example: a WebSocket server speaking Plivo's stream protocol that takes the calls the
stack streams to it and leaves the voicemail when the stack's signed notification says a machine answered."""
