-- Computed columns (`name AS expr`) in CREATE TABLE: arithmetic on physical columns,
-- a function call, a cast, and a computed column that refers to another computed column's
-- inputs. A computed column is not read from the file (the CSV has only the physical columns).
CREATE TABLE orders (
  order_id BIGINT,
  product STRING,
  qty INT,
  price DECIMAL(10, 2),
  order_ts TIMESTAMP(3),
  total AS qty * price,
  product_upper AS UPPER(product),
  order_date AS CAST(order_ts AS DATE),
  order_hour AS EXTRACT(HOUR FROM order_ts),
  big_order AS qty >= 10
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.csv',
  'format' = 'csv'
);

CREATE TABLE print_sink (
  order_id BIGINT,
  product_upper STRING,
  total DECIMAL(21, 2),
  order_date DATE,
  order_hour BIGINT,
  big_order BOOLEAN
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT order_id, product_upper, total, order_date, order_hour, big_order FROM orders;
