import type { Extension } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { useEffect, useRef } from 'preact/hooks';

/** The editors' look, beside the console's style sheet (which does not reach into their shadow roots). */
const theme = EditorView.theme({
  '&': { height: '100%', background: '#fff', fontSize: '0.875rem' },
  '&.cm-focused': { outline: '2px solid #1f4e79' },
  '.cm-scroller': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace' },
  '.cm-tooltip': { maxWidth: '32rem' },
  '.cm-tooltip.cm-completionInfo': { whiteSpace: 'pre-wrap' },
});

/**
 * Text typed over a selection replaces it here rather than in the browser's own editing: Chromium,
 * replacing a selection across highlighted tokens, keeps their look in elements with a `style`
 * attribute, which the console's policy refuses (and reports as an error).
 */
const typeOverSelection = EditorView.domEventHandlers({
  beforeinput(event, view) {
    if (event.inputType !== 'insertText' || event.data === null || view.composing || view.state.selection.ranges.every((range) => range.empty)) return false;
    event.preventDefault();
    view.dispatch(view.state.replaceSelection(event.data), { userEvent: 'input.type', scrollIntoView: true });
    return true;
  },
});

/**
 * A CodeMirror editor in its own shadow root. CodeMirror styles its editors at run time: in the
 * document it would add `<style>` elements, which the console's policy (`style-src 'self'`)
 * refuses; in a shadow root it adopts constructed style sheets, which are no inline markup and
 * which the policy leaves alone, as it does styles set through the DOM.
 */
export function CodeEditor({
  label,
  testId,
  doc,
  extensions,
  onView,
}: {
  label: string;
  testId: string;
  doc: string;
  extensions: Extension;
  onView: (view: EditorView) => void;
}) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const view = new EditorView({
      doc,
      parent: host.current!.attachShadow({ mode: 'open' }),
      extensions: [theme, typeOverSelection, EditorView.lineWrapping, EditorView.contentAttributes.of({ 'aria-label': label }), extensions],
    });
    onView(view);
    return () => view.destroy();
    // The editor is made once: its content changes through the view `onView` hands over.
  }, []);
  return <div ref={host} class="explorer-editor" data-testid={testId} />;
}
