CREATE ROLE tastematch LOGIN PASSWORD 'tastematch';
CREATE DATABASE tastematch OWNER tastematch;
\connect tastematch
CREATE EXTENSION pg_stat_statements;
-- The gate reads settings, pg_stat_activity and pg_stat_statements of every session.
GRANT pg_monitor TO tastematch;
