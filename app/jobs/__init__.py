"""Service tasks as jobs: no request ever waits on a state system.

The engine stops at a READY service task; the state change that made it ready also writes
its job row (`queue`, an outbox). A worker claims the row with a lease, calls the handler
with the job's idempotency key, commits the answer with its journal entry, then applies it
to the workflow (`runner`). Who runs jobs is one setting, `JOBS` (`workers`, `dispatch`):
"embedded" (threads in the server, `embedded`), "celery" (workers on Redis or RabbitMQ,
`celery_app`), "eager" (in the request after its commit: tests) or "off" (rows wait for
`flask --app app run-jobs`).
"""
