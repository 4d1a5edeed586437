"""Everything Plivo defines: its webhook forms, V3 signatures, XML, REST API and the audio-stream protocol.

Pure protocol knowledge plus the one REST gateway; nothing here knows our table or our call flow.
"""
