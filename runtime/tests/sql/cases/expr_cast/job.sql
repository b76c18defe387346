-- CAST between numeric, string, decimal, boolean, date and timestamp types; TRY_CAST
-- returns NULL where the value does not convert (CAST would fail the job).
CREATE TABLE src (
  id INT,
  s_int STRING,
  s_dec STRING,
  s_ts STRING,
  s_bool STRING,
  s_date STRING,
  d DOUBLE,
  n INT,
  ts TIMESTAMP(3),
  b BOOLEAN
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  id INT,
  str_to_int INT,
  str_to_bigint BIGINT,
  str_to_dec DECIMAL(10, 3),
  str_to_double DOUBLE,
  str_to_ts TIMESTAMP(3),
  str_to_bool BOOLEAN,
  str_to_date DATE,
  double_to_int INT,
  double_to_dec DECIMAL(5, 1),
  double_to_str STRING,
  int_to_str STRING,
  int_to_double DOUBLE,
  int_to_dec DECIMAL(12, 2),
  int_to_bool BOOLEAN,
  ts_to_str STRING,
  ts_to_date DATE,
  ts_to_ts0 TIMESTAMP(0),
  double_to_bigint BIGINT,
  bool_to_str STRING,
  bool_to_int INT,
  dec_to_str STRING,
  date_to_ts TIMESTAMP(3)
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT
  id,
  TRY_CAST(s_int AS INT),
  TRY_CAST(s_int AS BIGINT),
  TRY_CAST(s_dec AS DECIMAL(10, 3)),
  TRY_CAST(s_dec AS DOUBLE),
  TRY_CAST(s_ts AS TIMESTAMP(3)),
  TRY_CAST(s_bool AS BOOLEAN),
  TRY_CAST(s_date AS DATE),
  CAST(d AS INT),
  CAST(d AS DECIMAL(5, 1)),
  CAST(d AS STRING),
  CAST(n AS STRING),
  CAST(n AS DOUBLE),
  CAST(n AS DECIMAL(12, 2)),
  CAST(n AS BOOLEAN),
  CAST(ts AS STRING),
  CAST(ts AS DATE),
  CAST(ts AS TIMESTAMP(0)),
  CAST(d AS BIGINT),
  CAST(b AS STRING),
  CAST(b AS INT),
  CAST(CAST(d AS DECIMAL(12, 4)) AS STRING),
  CAST(CAST(ts AS DATE) AS TIMESTAMP(3))
FROM src;
