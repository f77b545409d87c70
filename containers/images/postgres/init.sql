CREATE ROLE tastematch LOGIN PASSWORD 'tastematch';
-- Safety nets for the service's sessions, in the role so that they hold through any pooler.
-- statement_timeout: no request holds a pooled connection for long behind a runaway query
-- (the longest legitimate statement, the baseline profile's full catalogue load, takes about
-- a second). idle_in_transaction_session_timeout: a session that left a transaction open
-- (a crashed request) releases its locks and its backend.
ALTER ROLE tastematch SET statement_timeout = '15s';
ALTER ROLE tastematch SET idle_in_transaction_session_timeout = '30s';
CREATE DATABASE tastematch OWNER tastematch;
\connect tastematch
CREATE EXTENSION pg_stat_statements;
-- The gate reads settings, pg_stat_activity and pg_stat_statements of every session.
GRANT pg_monitor TO tastematch;
