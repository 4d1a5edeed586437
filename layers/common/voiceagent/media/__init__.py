"""The media route: Plivo's audio frames in, an agent's actions out — runtime, agent contract, reference
agent, speech, audio, and frames sent back over the live connection."""
