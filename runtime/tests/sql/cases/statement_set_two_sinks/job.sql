-- EXECUTE STATEMENT SET with two INSERTs into two print tables (different
-- print-identifiers, so each line says which sink printed it). Both run as one job over
-- the same source; the interleaving of the two sinks' lines is not deterministic.
CREATE TABLE readings (
  id INT,
  city STRING,
  temp DOUBLE
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE cold (
  id INT,
  city STRING,
  temp DOUBLE
) WITH ('connector' = 'print', 'print-identifier' = 'cold');

CREATE TABLE per_city (
  city STRING,
  n BIGINT
) WITH ('connector' = 'print', 'print-identifier' = 'per_city');

EXECUTE STATEMENT SET
BEGIN
  INSERT INTO cold SELECT id, city, temp FROM readings WHERE temp < 10;
  INSERT INTO per_city SELECT city, COUNT(*) FROM readings GROUP BY city;
END;
