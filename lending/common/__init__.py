"""What every area of lending shares and no area owns: parsing of amounts and reasons
(inputs), the durable transaction with retries (transactions), the API's body parsing, status
filter and Idempotency-Key (api), the Celery task limits (tasks). Imports only domain/."""
