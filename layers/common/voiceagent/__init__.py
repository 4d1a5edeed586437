"""Domain package shared by every function: Plivo webhooks, call state, stream protocol and policies."""
