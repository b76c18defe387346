-- Temporal functions: DATE_FORMAT with several patterns, EXTRACT of each field (including
-- DOW/DOY/WEEK/QUARTER), YEAR()/MONTH()/HOUR() shorthands, timestamp +/- INTERVAL,
-- FLOOR/CEIL to a unit, TIMESTAMPDIFF, DATE literals and arithmetic, and
-- CURRENT_TIMESTAMP used only in a deterministic way.
CREATE TABLE src (
  id INT,
  ts TIMESTAMP(3),
  d DATE
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  id INT,
  fmt1 STRING,
  fmt2 STRING,
  fmt_date STRING,
  yr BIGINT,
  mon BIGINT,
  dy BIGINT,
  hr BIGINT,
  mi BIGINT,
  sec BIGINT,
  dow BIGINT,
  doy BIGINT,
  wk BIGINT,
  qtr BIGINT,
  year_fn BIGINT,
  month_fn BIGINT,
  hour_fn BIGINT,
  plus_interval TIMESTAMP(3),
  minus_interval TIMESTAMP(3),
  floor_hour TIMESTAMP(3),
  ceil_day TIMESTAMP(3),
  diff_days INT,
  date_plus DATE,
  now_known BOOLEAN
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT
  id,
  DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm:ss'),
  DATE_FORMAT(ts, 'yyyy/MM/dd HH:mm:ss.SSS'),
  DATE_FORMAT(CAST(d AS TIMESTAMP(3)), 'dd.MM.yyyy'),
  EXTRACT(YEAR FROM ts),
  EXTRACT(MONTH FROM ts),
  EXTRACT(DAY FROM ts),
  EXTRACT(HOUR FROM ts),
  EXTRACT(MINUTE FROM ts),
  EXTRACT(SECOND FROM ts),
  EXTRACT(DOW FROM ts),
  EXTRACT(DOY FROM ts),
  EXTRACT(WEEK FROM ts),
  EXTRACT(QUARTER FROM ts),
  YEAR(d),
  MONTH(d),
  HOUR(ts),
  ts + INTERVAL '1' DAY + INTERVAL '90' MINUTE,
  ts - INTERVAL '2' SECOND,
  FLOOR(ts TO HOUR),
  CEIL(ts TO DAY),
  TIMESTAMPDIFF(DAY, CAST(d AS TIMESTAMP(3)), TIMESTAMP '2024-03-01 00:00:00'),
  d + INTERVAL '3' DAY,
  CURRENT_TIMESTAMP IS NOT NULL AND CAST(CURRENT_TIMESTAMP AS TIMESTAMP(3)) > TIMESTAMP '2020-01-01 00:00:00'
FROM src;
