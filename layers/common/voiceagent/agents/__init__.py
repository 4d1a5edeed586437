"""Your own agent: a WebSocket server outside this stack that takes the call's audio stream. What this stack
tells it (``notification``: the signed voicemail notification of the agent policy) and how it is reached
(``voiceagent.agent_urls`` checks the URLs)."""
