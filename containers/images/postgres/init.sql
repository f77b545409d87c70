CREATE ROLE tastematch LOGIN PASSWORD 'tastematch';
CREATE DATABASE tastematch OWNER tastematch;
\connect tastematch
CREATE EXTENSION pg_stat_statements;
GRANT pg_read_all_stats TO tastematch;
