-- HAVING on window aggregates: a TUMBLE TVF aggregate keeps only windows with at least
-- two orders, and a legacy TUMBLE group window keeps only windows whose total amount
-- exceeds 6. Two sinks in one statement set.
CREATE TABLE orders (
  user_name STRING,
  item STRING,
  amount INT,
  price DECIMAL(10, 2),
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE tvf_sink (
  user_name STRING,
  window_start TIMESTAMP(3),
  cnt BIGINT
) WITH ('connector' = 'print', 'print-identifier' = 'tvf');

CREATE TABLE legacy_sink (
  user_name STRING,
  w_start TIMESTAMP(3),
  total_amount INT
) WITH ('connector' = 'print', 'print-identifier' = 'legacy');

EXECUTE STATEMENT SET
BEGIN
  INSERT INTO tvf_sink
  SELECT user_name, window_start, COUNT(*)
  FROM TABLE(TUMBLE(TABLE orders, DESCRIPTOR(ts), INTERVAL '10' SECOND))
  GROUP BY user_name, window_start, window_end
  HAVING COUNT(*) >= 2;

  INSERT INTO legacy_sink
  SELECT user_name, TUMBLE_START(ts, INTERVAL '10' SECOND), SUM(amount)
  FROM orders
  GROUP BY user_name, TUMBLE(ts, INTERVAL '10' SECOND)
  HAVING SUM(amount) > 6;
END;
