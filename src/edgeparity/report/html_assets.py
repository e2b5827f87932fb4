"""The HTML report's style sheet and script: inlined in the page, no network, no other file.

The page reads well without the script (fit-to-panel views, colour stretch by a checkbox); the
script adds zoom (1x to 16x, the three panels scrolled together), rings sized for the screen,
and "zoom here" links on listed pixels.
"""

CSS = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;padding:12px 16px;
max-width:1360px;color:#1d1d1f}
h1{font-size:1.5em;margin:.3em 0} h2{font-size:1.25em;margin:1.6em 0 .4em;padding-top:.4em;
border-top:2px solid #ddd} h3{font-size:1.05em;margin:1.2em 0 .4em}
.divergence{color:#b00020} .parity{color:#107010} .incomplete{color:#a15c00}
.sub{color:#555;margin:.2em 0 .8em}
.wide{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #d4d4d4;padding:3px 8px;
text-align:left;vertical-align:top} th{background:#f3f3f3}
code{background:#f3f3f3;padding:0 3px;overflow-wrap:anywhere}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f7f7f7;padding:8px;font-size:13px}
.headline{border:2px solid #b00020;border-radius:6px;padding:8px 12px;background:#fff7f7;
margin:.6em 0} .headline.hl-parity{border-color:#107010;background:#f5fbf5}
.headline.hl-incomplete{border-color:#a15c00;background:#fffaf2}
.headline dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 12px;margin:0}
.headline dt{font-weight:600;color:#333} .headline dd{margin:0;overflow-wrap:anywhere}
.headline .verdict{font-size:1.15em;font-weight:700;margin:0 0 .3em}
tr:target,figure:target{outline:3px solid #ffb000;outline-offset:2px}
details{margin:.5em 0} summary{cursor:pointer}
.view{margin:1.2em 0;padding:10px;border:1px solid #ccc;border-radius:6px}
.view figcaption{font-weight:600;margin-bottom:.3em;overflow-wrap:anywhere}
.tools{display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center;margin:.3em 0;font-size:14px}
.tools button{font:inherit;padding:2px 9px;border:1px solid #999;border-radius:4px;
background:#fafafa;cursor:pointer} .tools button.on{background:#1d1d1f;color:#fff}
.panels{display:grid;grid-template-columns:repeat(auto-fit,minmax(210px,1fr));gap:8px}
.panel{min-width:0} .panel .label{font-size:13px;color:#444;margin-bottom:2px;
overflow-wrap:anywhere}
.scroll{overflow:auto;max-height:78vh;background:#111;border:1px solid #888}
.canvas{position:relative;width:100%;line-height:0}
.canvas img{display:block;width:100%;height:auto}
img.map{image-rendering:pixelated}
.view:not([data-zoom=fit]) img{image-rendering:pixelated}
.view[data-zoom=fit] .full{display:none!important}
.view:not([data-zoom=fit]) .ov{display:none!important}
.panels .rel{display:none}
.stretch:checked ~ .panels .rel{display:block} .stretch:checked ~ .panels .abs{display:none}
.stretch:checked ~ .legends .abs{display:none} .legends .rel{display:none}
.stretch:checked ~ .legends .rel{display:flex}
svg.marks{position:absolute;left:0;top:0;width:100%;height:100%;pointer-events:none;
overflow:visible}
svg.marks circle{fill:none;vector-effect:non-scaling-stroke}
svg.marks .halo{stroke:#000;stroke-width:3px;opacity:.7}
svg.marks .ring{stroke:#ff2bd6;stroke-width:1.5px} svg.marks rect{shape-rendering:crispEdges}
.legend{display:flex;flex-wrap:wrap;gap:4px 10px;align-items:center;font-size:13px;
margin:.4em 0}
.legend .sw{display:inline-block;width:14px;height:14px;border:1px solid #777;
vertical-align:-2px;margin-right:3px}
.points td{font:12px/1.3 ui-monospace,monospace;vertical-align:middle}
img.closeup{display:block;max-width:none;image-rendering:pixelated}
.note{font-size:13px;color:#555}
@media (max-width:600px){body{padding:8px;font-size:14px} .every{display:none}
.headline dl{grid-template-columns:1fr} .headline dt{margin-top:4px}
td,th{padding:2px 5px}}
"""

SCRIPT = """
(function(){
  function zoomOf(v){return v.getAttribute('data-zoom');}
  function pxPerPixel(v){
    var c=v.querySelector('.canvas');return c.clientWidth/parseFloat(v.getAttribute('data-w'));}
  function sizeRings(v){
    var k=pxPerPixel(v)||1;
    // Rings 7 screen pixels wide, pixel squares at least 4 (never less than the pixel).
    v.querySelectorAll('svg.marks circle').forEach(function(c){
      c.setAttribute('r',(7/k).toFixed(3));});
    var side=Math.max(1,4/k);
    v.querySelectorAll('svg.marks rect.px').forEach(function(r){
      r.setAttribute('width',side);r.setAttribute('height',side);
      r.setAttribute('x',parseFloat(r.getAttribute('data-cx'))-side/2);
      r.setAttribute('y',parseFloat(r.getAttribute('data-cy'))-side/2);});
  }
  function setZoom(v,z,cx,cy){
    var scrolls=v.querySelectorAll('.scroll'),s=scrolls[0];
    var fx=cx, fy=cy;
    if(fx===undefined){fx=(s.scrollLeft+s.clientWidth/2)/Math.max(1,s.scrollWidth);
      fy=(s.scrollTop+s.clientHeight/2)/Math.max(1,s.scrollHeight);}
    v.setAttribute('data-zoom',z);
    var w=parseFloat(v.getAttribute('data-w'));
    v.querySelectorAll('.canvas').forEach(function(c){c.style.width=z==='fit'?'100%':(w*z)+'px';});
    v.querySelectorAll('.tools button').forEach(function(b){
      b.classList.toggle('on',b.getAttribute('data-z')===String(z));});
    scrolls.forEach(function(e){
      e.scrollLeft=fx*e.scrollWidth-e.clientWidth/2;e.scrollTop=fy*e.scrollHeight-e.clientHeight/2;});
    sizeRings(v);
  }
  document.querySelectorAll('figure.view').forEach(function(v){
    var busy=false;
    v.querySelectorAll('.tools button').forEach(function(b){
      b.addEventListener('click',function(){
        var z=b.getAttribute('data-z');setZoom(v,z==='fit'?'fit':parseFloat(z));});});
    v.querySelectorAll('.scroll').forEach(function(s){
      s.addEventListener('scroll',function(){
        if(busy)return;busy=true;
        v.querySelectorAll('.scroll').forEach(function(o){
          if(o!==s){o.scrollLeft=s.scrollLeft;o.scrollTop=s.scrollTop;}});
        busy=false;});});
    v.querySelectorAll('a.zoomto').forEach(function(a){
      a.addEventListener('click',function(e){
        e.preventDefault();
        var w=parseFloat(v.getAttribute('data-w')),h=parseFloat(v.getAttribute('data-h'));
        setZoom(v,8,(parseFloat(a.getAttribute('data-x'))+.5)/w,
                (parseFloat(a.getAttribute('data-y'))+.5)/h);});});
    sizeRings(v);
  });
  window.addEventListener('resize',function(){document.querySelectorAll('figure.view').forEach(sizeRings);});
})();
"""
