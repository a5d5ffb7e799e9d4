// A virtualized list over @tanstack/virtual-core: only the rows in view (plus overscan) are
// in the DOM, so 100k timeline events or 10k keys scroll like 20. Rows have one fixed height.
import { elementScroll, observeElementOffset, observeElementRect, Virtualizer } from "@tanstack/virtual-core";
import type { ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useReducer, useRef, useState } from "preact/hooks";

export interface VirtualListProps {
  count: number;
  rowHeight: number;
  /** Renders row `index`; `active` is the keyboard-selected row. */
  row: (index: number, active: boolean) => ComponentChildren;
  active: number;
  onKeyDown: (event: KeyboardEvent) => void;
  /** Called when the last rows come into view (load the next page). */
  onNearEnd?: () => void;
  label: string;
  height?: string;
  testId?: string;
}

export function VirtualList(props: VirtualListProps) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const [virtualizer] = useState(
    () =>
      new Virtualizer<HTMLDivElement, Element>({
        count: props.count,
        getScrollElement: () => scrollRef.current,
        estimateSize: () => props.rowHeight,
        scrollToFn: elementScroll,
        observeElementRect,
        observeElementOffset,
        overscan: 12,
        onChange: () => rerender(undefined),
      }),
  );
  virtualizer.setOptions({ ...virtualizer.options, count: props.count, estimateSize: () => props.rowHeight });
  useLayoutEffect(() => virtualizer._didMount(), [virtualizer]);
  useLayoutEffect(() => virtualizer._willUpdate());
  useEffect(() => {
    if (props.count > 0) virtualizer.scrollToIndex(props.active, { align: "auto" });
  }, [props.active]);
  const items = virtualizer.getVirtualItems();
  const last = items[items.length - 1];
  useEffect(() => {
    if (last !== undefined && last.index >= props.count - 20) props.onNearEnd?.();
  }, [last?.index, props.count]);
  return (
    <div
      ref={scrollRef}
      class="virtual"
      style={{ height: props.height ?? "60vh" }}
      tabIndex={0}
      role="listbox"
      aria-label={props.label}
      aria-activedescendant={props.count > 0 ? `${props.testId ?? "row"}-${props.active}` : undefined}
      onKeyDown={props.onKeyDown}
      data-testid={props.testId}
      data-count={props.count}
    >
      <div style={{ height: `${virtualizer.getTotalSize()}px`, position: "relative" }}>
        {items.map((item) => (
          <div
            key={item.key}
            id={`${props.testId ?? "row"}-${item.index}`}
            role="option"
            aria-selected={item.index === props.active}
            class={item.index === props.active ? "row active" : "row"}
            data-index={item.index}
            style={{ position: "absolute", top: 0, left: 0, right: 0, height: `${props.rowHeight}px`, transform: `translateY(${item.start}px)` }}
          >
            {props.row(item.index, item.index === props.active)}
          </div>
        ))}
      </div>
    </div>
  );
}
