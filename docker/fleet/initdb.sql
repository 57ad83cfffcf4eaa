-- Run once by the postgres image on an empty data volume (/docker-entrypoint-initdb.d), as
-- POSTGRES_USER in POSTGRES_DB (`fleet`, which holds the fleet's tables). Each fleet bot keeps
-- freqtrade's trades in a database of its own: two bots must never share freqtrade's tables.
CREATE DATABASE bot_a OWNER trader247;
CREATE DATABASE bot_b OWNER trader247;
CREATE DATABASE bot_c OWNER trader247;
