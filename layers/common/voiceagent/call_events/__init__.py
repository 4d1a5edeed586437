"""Call events on EventBridge: the schema of every detail-type, the facts read from the table's changes
(DynamoDB Streams), and the publisher that puts them on the stack's bus."""
