-- JSON with 'json.timestamp-format.standard' = 'ISO-8601': TIMESTAMP values are read
-- from "yyyy-MM-ddTHH:mm:ss[.fff]" and TIMESTAMP_LTZ values from the same with a
-- trailing "Z". The print connector's output format does not depend on this option.
CREATE TABLE src (
  id INT,
  ts TIMESTAMP(3),
  ltz TIMESTAMP_LTZ(3),
  d DATE
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json',
  'json.timestamp-format.standard' = 'ISO-8601'
);

CREATE TABLE print_sink (
  id INT,
  ts TIMESTAMP(3),
  ltz TIMESTAMP_LTZ(3),
  d DATE,
  ts_plus_1s TIMESTAMP(3),
  ts_str STRING
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT id, ts, ltz, d, ts + INTERVAL '1' SECOND, CAST(ts AS STRING) FROM src;
