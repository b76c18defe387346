-- SET changes the session time zone. TIMESTAMP -> TIMESTAMP_LTZ casts interpret the local
-- timestamp in that zone, and TIMESTAMP_LTZ -> STRING / DATE_FORMAT render in it, while
-- the print connector prints a TIMESTAMP_LTZ as a UTC instant.
SET 'table.local-time-zone' = 'Asia/Tokyo';

CREATE TABLE src (
  id INT,
  ts TIMESTAMP(3)
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.csv',
  'format' = 'csv'
);

CREATE TABLE print_sink (
  id INT,
  ts TIMESTAMP(3),
  ltz TIMESTAMP_LTZ(3),
  ltz_str STRING,
  ltz_fmt STRING,
  back_to_ts TIMESTAMP(3),
  epoch_ltz TIMESTAMP_LTZ(3)
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT
  id,
  ts,
  CAST(ts AS TIMESTAMP_LTZ(3)),
  CAST(CAST(ts AS TIMESTAMP_LTZ(3)) AS STRING),
  DATE_FORMAT(CAST(ts AS TIMESTAMP_LTZ(3)), 'yyyy-MM-dd HH:mm'),
  CAST(CAST(ts AS TIMESTAMP_LTZ(3)) AS TIMESTAMP(3)),
  TO_TIMESTAMP_LTZ(id * 1000, 3)
FROM src;
