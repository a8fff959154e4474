// NiiVue wrapper: shows the image, holds the segmentation in NiiVue's drawing layer (so pen / eraser /
// undo are NiiVue's own tools) and converts between NiiVue's RAS-ordered drawing bitmap and our label
// maps in file (NIfTI storage) order.
import { Niivue, SLICE_TYPE } from '@niivue/niivue';
import { get, labelColor, setView, type DrawTool, type SliceView } from './store.ts';
import { fileToBitmapIndex } from './runtime/rasMap.ts';

const SLICE: Record<SliceView, SLICE_TYPE> = {
  axial: SLICE_TYPE.AXIAL,
  coronal: SLICE_TYPE.CORONAL,
  sagittal: SLICE_TYPE.SAGITTAL,
  multiplanar: SLICE_TYPE.MULTIPLANAR,
  render: SLICE_TYPE.RENDER,
};

type NvVolume = { permRAS: number[]; hdr: { dims: number[] }; cal_min: number; cal_max: number; name: string };

class Viewer {
  nv: Niivue | null = null;
  private map: Uint32Array | null = null;
  private labelNames: string[] = [];
  private ready: Promise<void> | null = null;
  softwareGl = false;
  onEdit: ((action: string) => void) | null = null;

  attach(canvas: HTMLCanvasElement): Promise<void> {
    if (this.ready) return this.ready;
    const nv = new Niivue({
      backColor: [0.06, 0.08, 0.1, 1],
      crosshairColor: [0.35, 0.75, 1, 0.55],
      show3Dcrosshair: true,
      dragAndDropEnabled: false,
      isColorbar: false,
      logLevel: 'error',
      loadingText: '',
      maxDrawUndoBitmaps: 32,
      textHeight: 0.035,
      crosshairWidth: 0.6,
      crosshairWidthUnit: 'percent',
    } as ConstructorParameters<typeof Niivue>[0]);
    this.nv = nv;
    nv.onLocationChange = (loc: unknown) => this.location(loc);
    nv.onDrawingChanged = (action?: string) => this.onEdit?.(action ?? 'draw');
    this.ready = nv.attachToCanvas(canvas).then(() => {
      // On a software WebGL renderer (SwiftShader, llvmpipe) every redraw of NiiVue's 3D tile costs the page
      // seconds of main-thread time: multiplanar then shows the three slices only (the 3D button still works).
      const gl = nv.gl as WebGL2RenderingContext;
      const ext = gl.getExtension('WEBGL_debug_renderer_info');
      const renderer = String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
      this.softwareGl = /swiftshader|llvmpipe|softpipe|software|basic render/i.test(renderer);
      const opts = nv.opts as unknown as { multiplanarShowRender: number; multiplanarLayout: number };
      opts.multiplanarShowRender = this.softwareGl ? 0 : 2;
      opts.multiplanarLayout = this.softwareGl ? 3 : 0;
    });
    return this.ready;
  }

  private location(loc: unknown): void {
    const l = loc as { mm: number[]; values: { value: number; vox: number[] }[] };
    const nv = this.nv;
    if (!nv || !l.values?.length) return;
    const vox = Array.from(l.values[0].vox ?? []).map((v) => Math.round(v));
    let label = 0;
    const back = nv.volumes[0] as unknown as NvVolume | undefined;
    if (back && this.map && nv.drawBitmap) {
      const d = back.hdr.dims;
      if (vox[0] >= 0 && vox[1] >= 0 && vox[2] >= 0 && vox[0] < d[1] && vox[1] < d[2] && vox[2] < d[3]) {
        label = nv.drawBitmap[this.map[vox[0] + d[1] * (vox[1] + d[2] * vox[2])]] ?? 0;
      }
    }
    setView({ location: { vox, mm: Array.from(l.mm).slice(0, 3), value: l.values[0].value, label } });
  }

  async showImage(display: Uint8Array, name: string): Promise<void> {
    await this.ready;
    const nv = this.nv!;
    nv.closeDrawing();
    while (nv.volumes.length) nv.removeVolumeByIndex(0);
    const buf = display.buffer.slice(display.byteOffset, display.byteOffset + display.byteLength) as ArrayBuffer;
    await nv.loadFromArrayBuffer(buf, name.replace(/\.(nii\.gz|nii|png)$/i, '') + '.nii');
    const back = nv.volumes[0] as unknown as NvVolume;
    this.map = fileToBitmapIndex(back.permRAS, back.hdr.dims);
    nv.setSliceType(SLICE[get().view.slice]);
    setView({ windowMin: back.cal_min, windowMax: back.cal_max, location: null });
    nv.createEmptyDrawing();
    this.applyTool(get().view.tool, get().view.penLabel);
  }

  setSlice(v: SliceView): void {
    this.nv?.setSliceType(SLICE[v]);
  }

  setWindow(min: number, max: number): void {
    const nv = this.nv;
    const vol = nv?.volumes[0] as unknown as NvVolume | undefined;
    if (!nv || !vol) return;
    vol.cal_min = min;
    vol.cal_max = max;
    nv.updateGLVolume();
  }

  /** Current display window of the image (NiiVue may change it on right-drag). */
  readWindow(): [number, number] | null {
    const vol = this.nv?.volumes[0] as unknown as NvVolume | undefined;
    return vol ? [vol.cal_min, vol.cal_max] : null;
  }

  setLabelTable(labels: { value: number; name: string }[], hidden: number[]): void {
    const nv = this.nv;
    if (!nv) return;
    const max = Math.max(1, ...labels.map((l) => l.value));
    const R: number[] = [];
    const G: number[] = [];
    const B: number[] = [];
    const A: number[] = [];
    const I: number[] = [];
    const names: string[] = [];
    for (let v = 0; v <= max; v++) {
      const [r, g, b] = labelColor(v);
      R.push(r);
      G.push(g);
      B.push(b);
      A.push(v === 0 || hidden.includes(v) ? 0 : 255);
      I.push(v);
      names.push(labels.find((l) => l.value === v)?.name ?? String(v));
    }
    this.labelNames = names;
    nv.setDrawColormap({ R, G, B, A, I, labels: names } as unknown as string);
  }

  setOpacity(opacity: number, outline: boolean): void {
    const nv = this.nv;
    if (!nv) return;
    (nv as unknown as { drawRimOpacity: number }).drawRimOpacity = outline ? 1 : -1;
    nv.setDrawOpacity(outline ? 0 : opacity);
  }

  /** Replaces the segmentation shown (file order label map). Starts a fresh undo history. */
  setLabels(labels: Uint8Array | null): void {
    const nv = this.nv;
    if (!nv || !this.map) return;
    if (!labels) {
      nv.closeDrawing();
      nv.createEmptyDrawing();
      return;
    }
    if (labels.length !== this.map.length) throw new Error(`label map has ${labels.length} voxels, the image ${this.map.length}`);
    nv.drawClearAllUndoBitmaps();
    const bmp = new Uint8Array(labels.length);
    const m = this.map;
    for (let i = 0; i < labels.length; i++) bmp[m[i]] = labels[i];
    nv.drawBitmap = bmp;
    nv.drawAddUndoBitmap();
    nv.refreshDrawing(true);
    nv.drawScene();
  }

  /** Pushes a label map as a new undoable step (postprocessing). */
  pushLabels(labels: Uint8Array): void {
    const nv = this.nv;
    if (!nv || !this.map || !nv.drawBitmap) return;
    const bmp = nv.drawBitmap;
    const m = this.map;
    for (let i = 0; i < labels.length; i++) bmp[m[i]] = labels[i];
    nv.drawAddUndoBitmap();
    nv.refreshDrawing(true);
    nv.drawScene();
  }

  /** The segmentation as shown (with edits), in file order. */
  getLabels(): Uint8Array | null {
    const nv = this.nv;
    if (!nv || !this.map || !nv.drawBitmap) return null;
    const out = new Uint8Array(this.map.length);
    const bmp = nv.drawBitmap;
    const m = this.map;
    for (let i = 0; i < out.length; i++) out[i] = bmp[m[i]];
    return out;
  }

  undo(): void {
    this.nv?.drawUndo();
  }

  applyTool(tool: DrawTool, penLabel: number): void {
    const nv = this.nv;
    if (!nv) return;
    if (tool === 'off') {
      nv.setDrawingEnabled(false);
      return;
    }
    nv.setDrawingEnabled(true);
    nv.setPenValue(tool === 'erase' ? 0 : penLabel, false);
  }

  labelName(v: number): string {
    return this.labelNames[v] ?? String(v);
  }

  screenshotDataUrl(): string | null {
    const c = this.nv?.canvas as HTMLCanvasElement | undefined;
    return c ? c.toDataURL('image/png') : null;
  }
}

export const viewer = new Viewer();
