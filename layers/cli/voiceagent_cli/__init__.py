"""The operator's command line (``voiceagent``): place calls and read reports through the stack's API, and
check a deployment end to end (``voiceagent doctor``).

A client tool, not part of the Lambda layer: it runs on your machine with your AWS credentials.
"""
